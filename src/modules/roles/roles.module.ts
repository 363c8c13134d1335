import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { RolesController } from './roles.controller';
import { RolesService } from './roles.service';

/** Custom roles and the caller's permissions (API.md section 16). */
@Module({
  imports: [AuditModule],
  controllers: [RolesController],
  providers: [RolesService],
})
export class RolesModule {}
