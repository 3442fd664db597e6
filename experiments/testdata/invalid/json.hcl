{"experiment": {"x": {}}}
