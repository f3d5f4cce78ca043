"""Cache stores and locks, key for key as Laravel's Redis and database stores."""
