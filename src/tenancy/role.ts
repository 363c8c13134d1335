export enum Role {
  OWNER = 'owner',
  ADMIN = 'admin',
  MANAGER = 'manager',
  MEMBER = 'member',
}

export const ALL_ROLES: readonly Role[] = [Role.OWNER, Role.ADMIN, Role.MANAGER, Role.MEMBER];

/** Roles that may manage the organization's settings and members. */
export const ORG_ADMIN_ROLES: readonly Role[] = [Role.OWNER, Role.ADMIN];
