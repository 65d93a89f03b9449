import { ConflictError, NotFoundError } from '../common/domain-error';

export class SiteNameTakenError extends ConflictError {
  constructor(name: string) {
    super('site_name_taken', `a site named "${name}" already exists`);
  }
}

export class SiteNotFoundError extends NotFoundError {
  constructor(id: string) {
    super('site_not_found', `no site ${id}`);
  }
}
