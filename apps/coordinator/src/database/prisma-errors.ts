import { Prisma } from '@prisma/client';

/** A unique constraint refused the write (Prisma P2002), on either driver adapter. */
export function isUniqueViolation(e: unknown): boolean {
  return e instanceof Prisma.PrismaClientKnownRequestError && e.code === 'P2002';
}

/** A foreign key refused the write or delete (Prisma P2003). */
export function isForeignKeyViolation(e: unknown): boolean {
  return e instanceof Prisma.PrismaClientKnownRequestError && e.code === 'P2003';
}

/** The row to update or delete does not exist (Prisma P2025). */
export function isRecordNotFound(e: unknown): boolean {
  return e instanceof Prisma.PrismaClientKnownRequestError && e.code === 'P2025';
}
