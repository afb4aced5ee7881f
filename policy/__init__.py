"""The webapp-kubernetes policy pack.

A package only so that tests can `import policy.webapp_policies`. Nothing here may build the
`PolicyPack`: its constructor starts a gRPC server and blocks forever, so it lives in
`__main__.py`, which only the Pulumi CLI runs.
"""
