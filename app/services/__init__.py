"""Services: every business rule. They never import flask.request or Socket.IO globals."""
