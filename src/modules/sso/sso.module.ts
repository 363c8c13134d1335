import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { UsersModule } from '../users/users.module';
import { SsoController } from './sso.controller';
import { SsoService } from './sso.service';

/**
 * Single sign-on with OpenID Connect (API.md section 16): its own tables (sso_logins,
 * user_identities); users are created through UsersService and signed in through AuthService.
 */
@Module({
  imports: [AuthModule, UsersModule],
  controllers: [SsoController],
  providers: [SsoService],
})
export class SsoModule {}
