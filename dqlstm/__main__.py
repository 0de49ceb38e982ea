from dqlstm.cli import main

raise SystemExit(main())
