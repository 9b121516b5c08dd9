"""Local fakes of the services syndbot talks to: real HTTP servers on 127.0.0.1.

Each fake checks auth and request shape and answers like the real service, including its
error bodies, rate-limit headers and failure modes, and can be scripted to fail.
"""
