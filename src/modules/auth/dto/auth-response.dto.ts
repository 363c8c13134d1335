import { ApiProperty } from '@nestjs/swagger';
import { OrganizationWithRoleDto } from '../../organizations/dto/organization.dto';
import { UserDto } from '../../users/dto/user.dto';

export class TokenPairDto {
  @ApiProperty({
    description: 'JWT for `Authorization: Bearer`',
    example: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…',
  })
  accessToken: string;

  @ApiProperty({
    description: 'Single-use token for POST /auth/refresh',
    example: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…',
  })
  refreshToken: string;

  @ApiProperty({ enum: ['Bearer'], example: 'Bearer' })
  tokenType: 'Bearer';

  @ApiProperty({ description: 'Access token lifetime in seconds', example: 900 })
  expiresIn: number;
}

export class RegisterResponseDto extends TokenPairDto {
  @ApiProperty({ type: UserDto })
  user: UserDto;

  @ApiProperty({ type: OrganizationWithRoleDto })
  organization: OrganizationWithRoleDto;
}

export class LoginResponseDto extends TokenPairDto {
  @ApiProperty({ type: UserDto })
  user: UserDto;

  @ApiProperty({ type: [OrganizationWithRoleDto] })
  organizations: OrganizationWithRoleDto[];
}
