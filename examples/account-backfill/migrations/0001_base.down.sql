DROP TABLE outputs;
DROP TABLE ai_sessions;
DROP TABLE platform_steps;
DROP TABLE platform_trees;
DROP TABLE attachments;
DROP TABLE sessions;
DROP TABLE users;
DROP TABLE accounts;
