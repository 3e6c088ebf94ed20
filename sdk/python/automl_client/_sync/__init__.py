# Generated from automl_client/_async by `python -m automl_client._generate`: do not edit.
