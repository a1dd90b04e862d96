"""Objects checked against the Kubernetes API schema, with the API server's strict field validation.

- :mod:`.openapi`: OpenAPI definitions compiled into the types the validator walks (bundled, or a
  cluster's own ``/openapi`` in live mode), and the :class:`~.openapi.Bundle` of one version;
- :mod:`.bundle`: the bundled versions (``kubefort/data/schemas``, made by
  ``scripts/gen_schema_bundle.py``) and ``--kube-version``;
- :mod:`.validate`: built-in types, decoded as the API server decodes them (see its docstring for the
  exact semantics: int32/int64, IntOrString, quantities, null, ObjectMeta, embedded types...);
- :mod:`.crd`: custom resources against their CRD's structural schema (or a JSON schema file);
- :mod:`.source`: the schemas of one scan (:class:`~.source.SchemaSet`: bundle, the input's CRDs,
  ``--schema-dir``) and each object's validation, which marks its invalid fields on the object.

The rules that report what validation finds are ``kubefort.rules.schema`` (KF-SCHEMA-001..006).
"""
