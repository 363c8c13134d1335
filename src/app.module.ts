import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { TenantCacheModule } from './common/cache/tenant-cache.module';
import { CommonModule } from './common/common.module';
import { IdempotencyModule } from './common/idempotency/idempotency.module';
import { TenancyModule } from './tenancy/tenancy.module';
import { EventsModule } from './events/events.module';
import { RetentionModule } from './events/retention/retention.module';
import { AllExceptionsFilter } from './common/filters/all-exceptions.filter';
import { AuthGuard } from './tenancy/access/auth.guard';
import { OrganizationGuard } from './tenancy/access/organization.guard';
import { PermissionsGuard } from './tenancy/access/permissions.guard';
import { RateLimitGuard } from './common/rate-limit/rate-limit.guard';
import {
  MemoryRateLimitStore,
  RATE_LIMIT_STORE,
  type RateLimitStore,
} from './common/rate-limit/rate-limit.store';
import { RedisRateLimitStore } from './common/rate-limit/redis-rate-limit.store';
import type { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { ENTITIES } from './entities';
import { MetricsController } from './metrics.controller';
import { ContactsModule } from './modules/contacts/contacts.module';
import { CompaniesModule } from './modules/companies/companies.module';
import { DealsModule } from './modules/deals/deals.module';
import { BulkModule } from './modules/bulk/bulk.module';
import { LeadsModule } from './modules/leads/leads.module';
import { AnalyticsModule } from './modules/analytics/analytics.module';
import { TasksModule } from './modules/tasks/tasks.module';
import { PipelinesModule } from './modules/pipelines/pipelines.module';
import { AuditModule } from './modules/audit/audit.module';
import { AuthModule } from './modules/auth/auth.module';
import { HealthModule } from './modules/health/health.module';
import { ImportExportModule } from './modules/import-export/import-export.module';
import { OrganizationsModule } from './modules/organizations/organizations.module';
import { NotificationsModule } from './modules/notifications/notifications.module';
import { UsersModule } from './modules/users/users.module';
import { WebhooksModule } from './modules/webhooks/webhooks.module';
import { SsoModule } from './modules/sso/sso.module';
import { RolesModule } from './modules/roles/roles.module';
import { ApiKeysModule } from './modules/api-keys/api-keys.module';

@Module({})
export class AppModule {
  /** `databaseUrl`: the external DATABASE_URL, or the embedded server's. */
  static forRoot(config: AppConfig, databaseUrl: string): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule.forRoot(config, databaseUrl, ENTITIES),
        CommonModule,
        TenantCacheModule,
        TenancyModule,
        EventsModule,
        RetentionModule,
        AuditModule,
        RolesModule,
        ApiKeysModule,
        UsersModule,
        WebhooksModule,
        OrganizationsModule,
        AuthModule,
        SsoModule,
        PipelinesModule,
        ContactsModule,
        CompaniesModule,
        DealsModule,
        BulkModule,
        LeadsModule,
        TasksModule,
        AnalyticsModule,
        ImportExportModule,
        NotificationsModule,
        HealthModule,
        IdempotencyModule.forRoot(config),
      ],
      controllers: [MetricsController],
      providers: [
        // Guards run in this order, before any handler (API.md section 1, "first failing rule").
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_GUARD, useClass: OrganizationGuard },
        { provide: APP_GUARD, useClass: PermissionsGuard },
        { provide: APP_GUARD, useClass: RateLimitGuard },
        // Shared by the copies in Redis when REDIS_URL is set (API.md section 15).
        {
          provide: RATE_LIMIT_STORE,
          useFactory: (): RateLimitStore =>
            config.redisUrl ? new RedisRateLimitStore(config.redisUrl) : new MemoryRateLimitStore(),
        },
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
      ],
    };
  }
}
