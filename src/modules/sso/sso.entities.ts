import { SsoLogin } from './sso-login.entity';
import { UserIdentity } from './user-identity.entity';

/** The tables of single sign-on (listed in src/entities.ts). */
export const SSO_ENTITIES = [SsoLogin, UserIdentity];
