-- Base schema before account_id reached every table. Only users and ai_sessions carry
-- account_id; sessions reach their account through users, attachments through sessions, and
-- outputs through ai_sessions. ai_sessions.account_id is NULL for platform-run sessions.
-- platform_trees and platform_steps hold global content and never get an account_id.

CREATE TABLE accounts (
  account_id  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name        text NOT NULL,
  is_platform boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  user_id    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  account_id uuid NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
  email      text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT users_account_id_email_key UNIQUE (account_id, email)
);
CREATE INDEX users_account_id_idx ON users (account_id);

-- user_id is NULL once the user is deleted: such sessions no longer reach an account.
CREATE TABLE sessions (
  session_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id    uuid REFERENCES users (user_id) ON DELETE SET NULL,
  user_agent text,
  started_at timestamptz NOT NULL DEFAULT now(),
  ended_at   timestamptz
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

CREATE TABLE attachments (
  attachment_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  session_id    uuid NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
  file_name     text NOT NULL,
  content_type  text NOT NULL,
  size_bytes    bigint NOT NULL CHECK (size_bytes >= 0),
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attachments_session_id_idx ON attachments (session_id);

CREATE TABLE platform_trees (
  tree_id    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  slug       text NOT NULL UNIQUE,
  title      text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE platform_steps (
  step_id  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tree_id  uuid NOT NULL REFERENCES platform_trees (tree_id) ON DELETE CASCADE,
  position integer NOT NULL,
  prompt   text NOT NULL,
  CONSTRAINT platform_steps_tree_id_position_key UNIQUE (tree_id, position)
);

CREATE TABLE ai_sessions (
  ai_session_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  account_id    uuid REFERENCES accounts (account_id) ON DELETE CASCADE,
  tree_id       uuid REFERENCES platform_trees (tree_id) ON DELETE SET NULL,
  model         text NOT NULL,
  started_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ai_sessions_account_id_idx ON ai_sessions (account_id);
CREATE INDEX ai_sessions_tree_id_idx ON ai_sessions (tree_id);

CREATE TABLE outputs (
  output_id     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  ai_session_id uuid NOT NULL REFERENCES ai_sessions (ai_session_id) ON DELETE CASCADE,
  step_id       uuid REFERENCES platform_steps (step_id) ON DELETE SET NULL,
  body          text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outputs_ai_session_id_idx ON outputs (ai_session_id);
