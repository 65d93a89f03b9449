import { Module } from '@nestjs/common';
import { SiteRepository } from './site.repository';

@Module({ providers: [SiteRepository], exports: [SiteRepository] })
export class SitesModule {}
