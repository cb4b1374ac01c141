-- Hub rooms: one Matrix room may be the portal of several remote chats (issue 16), so a
-- room id no longer names one portal. Keep in step with ../sqlite/0004_hub_rooms.sql.
DROP INDEX portal_room_id;
CREATE INDEX portal_room_id ON portal (room_id);
