DROP TABLE user_role_assignment;
DROP TABLE role_permission;
DROP TABLE role;
DROP TABLE permission;
DROP TABLE "user";
