-- Presence shows which router bundle each site runs (reported over the socket after every pull), and an
-- admin can ask a site to rotate its key (the agent daemon does it and the request is cleared).

-- AlterTable
ALTER TABLE "sites" ADD COLUMN     "installed_bundle_version" INTEGER,
ADD COLUMN     "installed_bundle_reported_at" TIMESTAMPTZ(3),
ADD COLUMN     "key_rotation_requested_at" TIMESTAMPTZ(3);
