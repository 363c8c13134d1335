import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMinSize, ArrayUnique, IsArray, IsIn, Matches } from 'class-validator';
import { ArrayOfObjects } from '../../../common/validation/nested';
import { IsText } from '../../../common/validation/text';
import { OptionalNotNull, Trim } from '../../../common/validation/transforms';
import {
  ACTIONS,
  ADMINISTRATION,
  type Action,
  type Permission,
  type PermissionResource,
  RESOURCES,
  type Resource,
  SCOPES,
  type Scope,
} from '../../../tenancy/permissions';

export class PermissionDto {
  @ApiProperty({ enum: RESOURCES, example: 'contacts' })
  @IsIn(RESOURCES)
  resource: Resource;

  @ApiProperty({ enum: ACTIONS, isArray: true, example: ['read', 'update'] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayUnique()
  @IsIn(ACTIONS, { each: true })
  actions: Action[];

  @ApiProperty({
    enum: SCOPES,
    example: 'own',
    description: '`own`: records whose ownerId is the caller (as for members); `all`: every record',
  })
  @IsIn(SCOPES)
  scope: Scope;
}

const PERMISSIONS_DESCRIPTION =
  'What the role grants: per resource, a subset of read/create/update/delete with a scope. A resource may appear twice with different scopes (e.g. read all, update own); an action at most once per resource. It cannot exceed the permissions of whoever creates or changes it.';

export class CreateRoleDto {
  @ApiProperty({
    pattern: '^[a-z][a-z0-9_]{1,39}$',
    example: 'support',
    description:
      'Its key, used in members and API keys; not a built-in role (owner, admin, manager, member)',
  })
  @Matches(/^[a-z][a-z0-9_]{1,39}$/, {
    message:
      'key must be 2 to 40 lower-case letters, digits or underscores, starting with a letter',
  })
  key: string;

  @ApiProperty({ minLength: 1, maxLength: 100, example: 'Support' })
  @Trim()
  @IsText(1, 100)
  name: string;

  @ApiProperty({ type: [PermissionDto], description: PERMISSIONS_DESCRIPTION })
  @ArrayOfObjects(() => PermissionDto, { max: RESOURCES.length * 2 })
  permissions: PermissionDto[];
}

export class UpdateRoleDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 100, example: 'Support desk' })
  @OptionalNotNull()
  @Trim()
  @IsText(1, 100)
  name?: string;

  @ApiPropertyOptional({ type: [PermissionDto], description: PERMISSIONS_DESCRIPTION })
  @OptionalNotNull()
  @ArrayOfObjects(() => PermissionDto, { max: RESOURCES.length * 2 })
  permissions?: PermissionDto[];
}

export class GrantedPermissionDto {
  @ApiProperty({
    enum: [...RESOURCES, ...ADMINISTRATION],
    example: 'contacts',
    description: `One of the grantable resources, or (built-in owner and admin only) ${ADMINISTRATION.join(', ')}`,
  })
  resource: PermissionResource;

  @ApiProperty({ enum: ACTIONS, isArray: true, example: ['read', 'update'] })
  actions: Action[];

  @ApiProperty({ enum: SCOPES, example: 'all' })
  scope: Scope;
}

export class RoleDto {
  @ApiProperty({ example: 'support' })
  key: string;

  @ApiProperty({ example: 'Support' })
  name: string;

  @ApiProperty({
    description: 'The four built-in roles cannot be changed or deleted',
    example: false,
  })
  builtIn: boolean;

  @ApiProperty({ type: [GrantedPermissionDto] })
  permissions: Permission[];

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'null for built-in roles',
  })
  createdAt: string | null;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'null for built-in roles',
  })
  updatedAt: string | null;
}

export class MyPermissionsDto {
  @ApiProperty({
    example: 'member',
    description: "The caller's role (for an API key: the key's role)",
  })
  role: string;

  @ApiProperty({
    type: [GrantedPermissionDto],
    description:
      'The effective permissions (for an API key: what both the key and its creator hold)',
  })
  permissions: Permission[];
}
