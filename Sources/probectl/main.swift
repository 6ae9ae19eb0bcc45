import ProbeCLI

CLI.main()
