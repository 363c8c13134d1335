import { Global, Module } from '@nestjs/common';
import { AuditLogsController } from './audit-logs.controller';
import { AuditConsumer } from './audit.consumer';
import { AuditService } from './audit.service';
import { RetentionJobs } from './retention-jobs';

/** The audit trail: its writer, its API (GET /audit-logs) and the retention jobs' registrations. */
@Global()
@Module({
  controllers: [AuditLogsController],
  providers: [AuditService, AuditConsumer, RetentionJobs],
  exports: [AuditService],
})
export class AuditModule {}
