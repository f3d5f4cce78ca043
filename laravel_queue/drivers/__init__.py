"""Queue drivers mirroring Laravel's RedisQueue, DatabaseQueue and SqsQueue."""
