-- Everyone signed in sees every profile (the authors' names); only its
-- owner, or an admin, may change one (hearth.yaml: tables.profiles).
CREATE TABLE profiles (
  user_id TEXT PRIMARY KEY,
  display_name TEXT NOT NULL DEFAULT ''
);
