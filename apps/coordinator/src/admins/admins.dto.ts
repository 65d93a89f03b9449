import type { AdminRole } from '@prisma/client';
import { IsIn, IsString, IsUUID, MaxLength } from 'class-validator';
import type { CreateAdminRequest } from '@casam/protocol';

export class CreateAdminDto implements CreateAdminRequest {
  @IsString()
  @MaxLength(320)
  email!: string;

  @IsIn(['admin', 'viewer'])
  role!: AdminRole;

  /** Length and content rules are the service's (checkPassword), so the CLI and the API refuse alike. */
  @IsString()
  @MaxLength(4096)
  password!: string;
}

export class AdminIdParams {
  @IsUUID()
  id!: string;
}
