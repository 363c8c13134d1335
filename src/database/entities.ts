import { AuditLog } from '../modules/audit/audit-log.entity';
import { RefreshToken } from '../modules/auth/refresh-token.entity';
import { OrganizationMember } from '../modules/organizations/organization-member.entity';
import { Organization } from '../modules/organizations/organization.entity';
import { User } from '../modules/users/user.entity';

export const ENTITIES = [User, Organization, OrganizationMember, RefreshToken, AuditLog];
