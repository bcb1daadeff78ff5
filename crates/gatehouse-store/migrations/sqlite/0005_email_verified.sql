-- Whether a user's e-mail address is verified: 1, 0, or NULL (unknown).
-- Users without an IdP identity were created locally or by an
-- administrator and count as verified; IdP users stay unknown until their
-- next sign-in records what the IdP says.
ALTER TABLE users ADD COLUMN email_verified INTEGER;
UPDATE users SET email_verified = 1 WHERE id NOT IN (SELECT user_id FROM identities);
