DROP TABLE mr_consumers;
DROP TABLE mr_event_feed;
DROP TABLE mr_events;
