import { Global, Module } from '@nestjs/common';
import { CoordinatorEvents } from '../events/coordinator-events';
import { Clock } from './clock';

@Global()
@Module({ providers: [Clock, CoordinatorEvents], exports: [Clock, CoordinatorEvents] })
export class CommonModule {}
