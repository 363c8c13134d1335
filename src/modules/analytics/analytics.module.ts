import { Module } from '@nestjs/common';

/** Analytics (API.md section 9); the cache lives in AnalyticsCacheModule (global). */
@Module({
  controllers: [],
  providers: [],
})
export class AnalyticsModule {}
