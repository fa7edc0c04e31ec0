-- Notifications (issue 15). A user's contact for the e-mail and SMS
-- channels, set by the user, and whether they want each channel.
ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN phone TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN notify_email INTEGER NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN notify_sms INTEGER NOT NULL DEFAULT 1;

-- One row per recipient of each change worth telling (a status change, a
-- live invitation, an owed-item reminder or escalation), written in the
-- transaction of that change. The in-app inbox reads it; e-mail and SMS
-- are sent by jobs (kind notify_email / notify_sms) that record here when
-- they sent it, so a message goes out once.
--   kind        what happened (domain.Notification* constants)
--   data        JSON: case number, site, from/to status, join link …
CREATE TABLE notifications (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id),
    case_id       TEXT REFERENCES cases(id),
    kind          TEXT NOT NULL,
    data          TEXT NOT NULL DEFAULT '{}',
    created_at    BIGINT NOT NULL,
    read_at       BIGINT,
    email_sent_at BIGINT,
    sms_sent_at   BIGINT
);
CREATE INDEX notifications_user ON notifications(user_id, created_at);

-- A job may now deliver a notification.
ALTER TABLE jobs ADD COLUMN notification_id TEXT REFERENCES notifications(id);
