import { ApiProperty } from '@nestjs/swagger';
import { IsString, Length } from 'class-validator';
import { IsNewPassword } from '../../auth/dto/password-reset.dto';

/** POST /users/me/password (API.md section 16). */
export class ChangePasswordDto {
  @ApiProperty({ example: 'correct-horse-42', minLength: 1, maxLength: 1024 })
  @IsString()
  @Length(1, 1024)
  currentPassword: string;

  @ApiProperty({
    minLength: 8,
    maxLength: 72,
    example: 'new-horse-43',
    description: 'A letter and a digit; not the email',
  })
  @IsNewPassword()
  newPassword: string;
}

/** DELETE /users/me (API.md section 16). */
export class DeleteAccountDto {
  @ApiProperty({
    example: 'correct-horse-42',
    minLength: 1,
    maxLength: 1024,
    description: 'The account password, to confirm',
  })
  @IsString()
  @Length(1, 1024)
  password: string;
}
