import { Module } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { PassportModule } from '@nestjs/passport';
import { OrganizationsModule } from '../organizations/organizations.module';
import { UsersModule } from '../users/users.module';
import { AuthController } from './auth.controller';
import { AuthService } from './auth.service';
import { JwtStrategy } from './jwt.strategy';
import { AccountController, PasswordResetController } from './password-reset.controller';
import { PasswordResetService } from './password-reset.service';
import { PasswordService } from './password.service';
import { TokenService } from './token.service';

@Module({
  imports: [
    PassportModule.register({ session: false }),
    JwtModule.register({}), // secrets and algorithm are passed per call (two secrets)
    UsersModule,
    OrganizationsModule,
  ],
  controllers: [AuthController, PasswordResetController, AccountController],
  providers: [AuthService, PasswordService, TokenService, JwtStrategy, PasswordResetService],
  // AuthService: the single sign-on module signs in the users it verified.
  exports: [AuthService],
})
export class AuthModule {}
