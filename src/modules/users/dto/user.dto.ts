import { ApiProperty } from '@nestjs/swagger';
import type { User } from '../user.entity';

export class UserDto {
  @ApiProperty({ format: 'uuid', example: '0b6a3c52-3f44-4d0e-a8e5-9b1d3b0f1c11' })
  id: string;

  @ApiProperty({ format: 'email', example: 'ada@example.com' })
  email: string;

  @ApiProperty({ example: 'Ada Lovelace' })
  name: string;

  @ApiProperty({
    type: String,
    nullable: true,
    example: '+1 555 010 2030',
    description: 'For text messages (notifications); set with PATCH /users/me',
  })
  phone: string | null;

  @ApiProperty({ format: 'date-time', example: '2026-11-21T10:00:00.000Z' })
  createdAt: string;

  static from(user: User): UserDto {
    return {
      id: user.id,
      email: user.email,
      name: user.name,
      phone: user.phone ?? null,
      createdAt: user.createdAt.toISOString(),
    };
  }
}
