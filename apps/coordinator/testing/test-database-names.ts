/** The migrated database every Postgres test database is cloned from. */
export const TEMPLATE_DATABASE = 'casam_template';
