REM llama-orch daemon for C:\llm as a Windows service, through NSSM (https://nssm.cc).
REM Run these in an elevated Command Prompt; 'nssm remove llama-orch confirm' undoes them.
nssm install llama-orch "C:\Program Files\llama-orch\llama-orch.exe"
nssm set llama-orch AppParameters "daemon start --foreground --root C:\llm"
nssm set llama-orch AppDirectory C:\llm
nssm set llama-orch AppEnvironmentExtra LLAMA_SERVER=C:\llama.cpp\llama-server.exe "PATH=C:\Windows\system32;C:\Program Files\llama-orch"
nssm set llama-orch Description "llama-orch daemon (C:\llm)"
nssm set llama-orch Start SERVICE_DELAYED_AUTO_START
nssm set llama-orch DependOnService Tcpip
nssm set llama-orch AppExit Default Restart
nssm set llama-orch AppExit 0 Exit
nssm set llama-orch AppRestartDelay 5000
nssm set llama-orch AppStopMethodConsole 60000
nssm set llama-orch AppKillProcessTree 0
nssm set llama-orch AppStdout C:\llm\logs\daemon.stdout.log
nssm set llama-orch AppStderr C:\llm\logs\daemon.stderr.log
REM The service runs as .\llm; replace PASSWORD with the account's password.
nssm set llama-orch ObjectName .\llm PASSWORD
nssm start llama-orch
