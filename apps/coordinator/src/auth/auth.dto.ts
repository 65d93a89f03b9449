import { IsString, MaxLength } from 'class-validator';
import type { LoginRequest } from '@casam/protocol';

export class LoginDto implements LoginRequest {
  @IsString()
  @MaxLength(320)
  email!: string;

  @IsString()
  @MaxLength(4096)
  password!: string;
}
