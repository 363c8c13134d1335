import { Global, Module } from '@nestjs/common';
import { AuditConsumer } from './audit.consumer';
import { AuditService } from './audit.service';

@Global()
@Module({ providers: [AuditService, AuditConsumer], exports: [AuditService] })
export class AuditModule {}
