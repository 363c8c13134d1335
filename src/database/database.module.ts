import { DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { AppConfig } from '../config/app-config';
import { type DatabaseOptions, dataSourceOptions } from './data-source-options';
import { MigrationRunner } from './migration-runner';

@Module({})
export class DatabaseModule {
  static forRoot(
    config: AppConfig,
    url: string,
    entities: DatabaseOptions['entities'],
  ): DynamicModule {
    return {
      module: DatabaseModule,
      imports: [
        TypeOrmModule.forRoot({
          ...dataSourceOptions({
            url,
            poolMin: config.db.poolMin,
            poolMax: config.db.poolMax,
            migrationsRun: false,
            statementTimeoutMs: config.db.statementTimeoutMs,
            readUrls: config.db.readUrls,
            entities,
          }),
          retryAttempts: 3,
          retryDelay: 1000,
        }),
      ],
      providers: [MigrationRunner],
    };
  }
}
