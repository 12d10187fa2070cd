"""What HTTP and Socket.IO controllers share."""
