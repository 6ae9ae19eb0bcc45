import ProbeDaemon

Daemon.main()
