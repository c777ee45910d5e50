from pyserini_qpeft.cli.main import main

raise SystemExit(main())
