import { type DynamicModule, Global, Module } from '@nestjs/common';
import { BlobRepository } from './blob.repository';
import { BlobStore } from './blob-store';

/** The configured {@link BlobStore} and the blob registry, for every module. */
@Global()
@Module({})
export class BlobsModule {
  static forRoot(store: BlobStore): DynamicModule {
    return {
      module: BlobsModule,
      providers: [{ provide: BlobStore, useValue: store }, BlobRepository],
      exports: [BlobStore, BlobRepository],
    };
  }
}
