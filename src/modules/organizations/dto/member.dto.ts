import { ApiProperty } from '@nestjs/swagger';
import { Role } from '../../../tenancy/role';

export class MemberDto {
  @ApiProperty({ format: 'uuid', example: '0b6a3c52-3f44-4d0e-a8e5-9b1d3b0f1c11' })
  userId: string;

  @ApiProperty({ format: 'email', example: 'grace@example.com' })
  email: string;

  @ApiProperty({ example: 'Grace Hopper' })
  name: string;

  @ApiProperty({
    example: Role.MEMBER,
    description: 'A built-in role (owner, admin, manager, member) or a custom role key',
  })
  role: string;

  @ApiProperty({ format: 'date-time', description: 'When the user joined the organization' })
  createdAt: string;
}
