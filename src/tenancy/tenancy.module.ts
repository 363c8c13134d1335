import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApiKey } from './api-key.entity';
import { ApiKeyAuthenticator } from './api-keys';
import { CustomRole } from './custom-role.entity';
import { MembershipService } from './membership.service';
import { OrganizationMember } from './organization-member.entity';
import { OwnershipService } from './ownership.service';
import { ReplicaReads } from './replica-reads';
import { UnitOfWork } from './unit-of-work';

/**
 * The tenancy floor, below every feature module: the membership lookup (used by the
 * OrganizationGuard on every tenant-scoped request), ownership rules, and the unit of work
 * through which features reach tenant data.
 */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([OrganizationMember, CustomRole, ApiKey])],
  providers: [MembershipService, ApiKeyAuthenticator, OwnershipService, UnitOfWork, ReplicaReads],
  exports: [MembershipService, ApiKeyAuthenticator, OwnershipService, UnitOfWork, ReplicaReads],
})
export class TenancyModule {}
