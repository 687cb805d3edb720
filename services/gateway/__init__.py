"""The REST gateway: authentication, component scopes, REST to gRPC, OpenAPI, unsubscribe pages."""
