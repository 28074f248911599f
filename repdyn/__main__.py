from repdyn.cli import main

raise SystemExit(main())
