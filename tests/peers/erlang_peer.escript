#!/usr/bin/env escript
%% Erlang/OTP's ssh, ssh_sftp and ssh_sftpd as an interop peer of nacre, client or server (used by
%% tests/tests/interop_matrix.rs). The protocol of tests/peers/asyncssh_peer.py, except that OTP 25 has no
%% JSON parser: the client reads each case as one line of tab-separated `key=value` fields (nested keys
%% joined by `.`, lists by `,`: name, port, user, password, key, host_keys, algs.kex, algs.cipher, algs.mac,
%% algs.hostkey, renegotiate, exec, sftp.local, sftp.remote, sftp.back, sftp.remove) and prints JSON results.
%%
%% Client: ssh:connect with the host key checked against the case's keys (SHA-256 fingerprints), password
%% or the key (copied into a user_dir as id_ed25519/id_ecdsa/id_rsa), preferred_algorithms limited to the
%% case's, ssh_connection_handler:renegotiate/1 (OTP 25 has no public ssh:renegotiate) before and after the upload with "renegotiate" (OTP checks its rekey_limit byte
%% count only once a minute); exec through ssh_connection; SFTP through ssh_sftp (write_file, read_file_info,
%% read_file, delete).
%% Server: `erlang_peer.escript server --host-key PATH... --authorized-keys FILE --password PW --root DIR
%% [--rekey]`: ssh:daemon on 127.0.0.1 (port printed as `PORT n`) with a key callback serving every host key
%% given (this module's host_key/2 and is_auth_key/3), exec requests run by /bin/sh in this module's
%% ssh_server_channel callbacks (stdout, stderr, exit status), ssh_sftpd rooted at --root, every algorithm
%% OTP supports, and with --rekey ssh_connection_handler:renegotiate/1 after every MiB the SFTP server receives.
-module(erlang_peer).
-mode(compile).
-export([main/1, host_key/2, is_auth_key/3, init/1, handle_msg/2, handle_ssh_msg/2, terminate/2]).

main(Args) ->
    logger:set_primary_config(level, error),
    main1(Args).

main1(["supported"]) ->
    {ok, _} = application:ensure_all_started(ssh),
    A = ssh_transport:supported_algorithms(),
    Flat = fun(K) ->
               case proplists:get_value(K, A) of
                   [{client2server, L} | _] -> L;
                   L -> L
               end
           end,
    io:format("~s~n", [json({obj, [{"kex", Flat(kex)}, {"hostkey", Flat(public_key)},
                                   {"cipher", Flat(cipher)}, {"mac", Flat(mac)}]})]);
main1(["client"]) ->
    {ok, _} = application:ensure_all_started(ssh),
    client_loop();
main1(["server" | Args]) ->
    {ok, _} = application:ensure_all_started(ssh),
    server(parse_args(Args, #{host_keys => []}));
main1(_) ->
    io:format(standard_error, "usage: erlang_peer.escript client|server|supported~n", []),
    halt(2).

%% ------------------------------------------------------------------------------------------------ client

client_loop() ->
    case io:get_line("") of
        eof -> ok;
        {error, _} -> ok;
        Line ->
            case string:trim(Line) of
                "" -> ok;
                L -> io:format("~s~n", [json(run_case(parse_case(L)))])
            end,
            client_loop()
    end.

parse_case(Line) ->
    maps:from_list([begin [K | V] = string:split(F, "="), {K, lists:flatten(V)} end
                    || F <- string:split(Line, "\t", all), F =/= ""]).

get(K, C) -> maps:get(K, C, undefined).

run_case(C) ->
    Res0 = [{"name", get("name", C)}, {"negotiated", {obj, []}}],
    try do_case(C) of
        {Status, Out} ->
            {obj, Res0 ++ [{"ok", true}, {"error", ""}, {"exit_status", Status}, {"stdout", Out}]}
    catch
        Class:Reason ->
            {obj, Res0 ++ [{"ok", false},
                           {"error", lists:flatten(io_lib:format("~p:~p", [Class, Reason]))},
                           {"exit_status", null}, {"stdout", ""}]}
    end.

fingerprint(Line) ->
    [_Type, B64 | _] = string:split(Line, " ", all),
    Blob = base64:decode(B64),
    "SHA256:" ++ string:trim(base64:encode_to_string(crypto:hash(sha256, Blob)), trailing, "=").

split_list(undefined) -> [];
split_list(S) -> [X || X <- string:split(S, ",", all), X =/= ""].

do_case(C) ->
    Port = list_to_integer(get("port", C)),
    Trusted = [fingerprint(L) || L <- split_list(get("host_keys", C))],
    Accept = fun(_Peer, FP) -> lists:member(FP, Trusted) end,
    Dir = tmp_dir(),
    Auth = case get("key", C) of
               undefined -> [{password, get("password", C)}, {auth_methods, "password"}];
               Key ->
                   {ok, Pub} = file:read_file(Key ++ ".pub"),
                   Name = case Pub of
                              <<"ssh-ed25519", _/binary>> -> "id_ed25519";
                              <<"ecdsa-", _/binary>> -> "id_ecdsa";
                              <<"ssh-rsa", _/binary>> -> "id_rsa"
                          end,
                   {ok, _} = file:copy(Key, filename:join(Dir, Name)),
                   [{auth_methods, "publickey"}]
           end,
    Pref = lists:append(
             [[{A, [list_to_atom(X) || X <- split_list(get(K, C))]}]
              || {K, A} <- [{"algs.kex", kex}, {"algs.cipher", cipher}, {"algs.mac", mac},
                            {"algs.hostkey", public_key}],
                 get(K, C) =/= undefined]),
    Modify = case Pref of
                 [] -> [];
                 _ -> [{preferred_algorithms, Pref ++ [A || A <- ssh:default_algorithms(),
                                                            not lists:keymember(element(1, A), 1, Pref)]}]
             end,
    Renegotiate = get("renegotiate", C) =:= "true",
    Opts = [{user, get("user", C)}, {silently_accept_hosts, {sha256, Accept}}, {save_accepted_host, false},
            {user_interaction, false}, {user_dir, Dir}, {connect_timeout, 60000}]
           ++ Auth ++ Modify,
    {ok, Conn} = ssh:connect("127.0.0.1", Port, Opts, 60000),
    try
        R = case get("exec", C) of
                undefined -> {null, ""};
                Cmd -> exec(Conn, Cmd)
            end,
        case get("sftp.local", C) of
            undefined -> ok;
            Local -> sftp(Conn, Local, get("sftp.remote", C), get("sftp.back", C),
                          get("sftp.remove", C) =/= "false", Renegotiate)
        end,
        R
    after
        ssh:close(Conn),
        file:del_dir_r(Dir)
    end.

tmp_dir() ->
    D = filename:join("/tmp", "erlang_peer_" ++ integer_to_list(erlang:unique_integer([positive]))
                      ++ "_" ++ os:getpid()),
    ok = file:make_dir(D),
    D.

exec(Conn, Cmd) ->
    {ok, Ch} = ssh_connection:session_channel(Conn, 60000),
    success = ssh_connection:exec(Conn, Ch, Cmd, 60000),
    collect(Conn, Ch, [], null).

collect(Conn, Ch, Out, Status) ->
    receive
        {ssh_cm, Conn, {data, Ch, 0, D}} -> collect(Conn, Ch, [Out, D], Status);
        {ssh_cm, Conn, {data, Ch, _, _}} -> collect(Conn, Ch, Out, Status);
        {ssh_cm, Conn, {exit_status, Ch, S}} -> collect(Conn, Ch, Out, S);
        {ssh_cm, Conn, {eof, Ch}} -> collect(Conn, Ch, Out, Status);
        {ssh_cm, Conn, {closed, Ch}} -> {Status, unicode:characters_to_list(iolist_to_binary(Out))}
    after 60000 -> error(exec_timeout)
    end.

sftp(Conn, Local, Remote, Back, Remove, Renegotiate) ->
    {ok, Pid} = ssh_sftp:start_channel(Conn, [{timeout, 60000}]),
    {ok, Bin} = file:read_file(Local),
    Renegotiate andalso ssh_connection_handler:renegotiate(Conn),
    ok = ssh_sftp:write_file(Pid, Remote, Bin, 120000),
    Renegotiate andalso ssh_connection_handler:renegotiate(Conn),
    {ok, Info} = ssh_sftp:read_file_info(Pid, Remote, 60000),
    Size = byte_size(Bin),
    case element(2, Info) of
        Size -> ok;
        Other -> error({size_after_put, Other, Size})
    end,
    {ok, Got} = ssh_sftp:read_file(Pid, Remote, 120000),
    ok = file:write_file(Back, Got),
    case Remove of
        true -> ok = ssh_sftp:delete(Pid, Remote, 60000);
        false -> ok
    end,
    ssh_sftp:stop_channel(Pid).

%% ------------------------------------------------------------------------------------------------ server

parse_args([], M) -> M;
parse_args(["--host-key", P | R], M) -> parse_args(R, M#{host_keys => maps:get(host_keys, M) ++ [P]});
parse_args(["--authorized-keys", P | R], M) -> parse_args(R, M#{authorized_keys => P});
parse_args(["--password", P | R], M) -> parse_args(R, M#{password => P});
parse_args(["--root", P | R], M) -> parse_args(R, M#{root => P});
parse_args(["--rekey" | R], M) -> parse_args(R, M#{rekey => true}).

decode_private(Path) ->
    {ok, Bin} = file:read_file(Path),
    [{Key, _} | _] = ssh_file:decode(Bin, openssh_key_v1),
    Key.

server(Args) ->
    Keys = [decode_private(P) || P <- maps:get(host_keys, Args)],
    {ok, AuthBin} = file:read_file(maps:get(authorized_keys, Args)),
    Authorized = [K || {K, _} <- ssh_file:decode(AuthBin, auth_keys)],
    Password = maps:get(password, Args),
    Root = maps:get(root, Args),
    All = ssh_transport:supported_algorithms(),
    %% OTP checks rekey_limit's byte count once a minute only: the SFTP channel calls renegotiate/1
    %% itself after every MiB it receives (see init/1 below).
    RekeyBytes = case maps:get(rekey, Args, false) of
                     true -> 1 bsl 20;
                     false -> 0
                 end,
    {"sftp", {ssh_sftpd, SftpdArgs}} = ssh_sftpd:subsystem_spec([{root, Root}, {cwd, "/"}]),
    {ok, D} = ssh:daemon({127, 0, 0, 1}, 0,
                         [{key_cb, {?MODULE, [{keys, Keys}, {authorized, Authorized}]}},
                          {system_dir, Root},
                          {pwdfun, fun(U, P) -> U =:= "peer" andalso P =:= Password end},
                          {auth_methods, "publickey,password"},
                          {subsystems, [{"sftp", {?MODULE, [sftpd, RekeyBytes, SftpdArgs]}}]},
                          {ssh_cli, {?MODULE, []}},
                          {preferred_algorithms, All},
                          {parallel_login, true}]),
    {ok, Info} = ssh:daemon_info(D),
    io:format("PORT ~b~n", [proplists:get_value(port, Info)]),
    receive stop -> ok end.

%% ssh_server_key_api
host_key(Alg, Opts) ->
    Keys = proplists:get_value(keys, proplists:get_value(key_cb_private, Opts, [])),
    Want = case Alg of
               'ssh-ed25519' -> ed25519;
               'ecdsa-sha2-nistp256' -> {ec, {1, 2, 840, 10045, 3, 1, 7}};
               'ecdsa-sha2-nistp384' -> {ec, {1, 3, 132, 0, 34}};
               'ecdsa-sha2-nistp521' -> {ec, {1, 3, 132, 0, 35}};
               'rsa-sha2-256' -> rsa;
               'rsa-sha2-512' -> rsa;
               'ssh-rsa' -> rsa;
               _ -> none
           end,
    case [K || K <- Keys, kind(K) =:= Want] of
        [K | _] -> {ok, K};
        [] -> {error, no_key}
    end.

kind({'ECPrivateKey', _, _, {namedCurve, {1, 3, 101, 112}}, _, _}) -> ed25519;
kind({'ECPrivateKey', _, _, {namedCurve, Oid}, _, _}) -> {ec, Oid};
kind({'RSAPrivateKey', _, _, _, _, _, _, _, _, _, _}) -> rsa;
kind(_) -> other.

is_auth_key(Key, "peer", Opts) ->
    lists:member(Key, proplists:get_value(authorized, proplists:get_value(key_cb_private, Opts, [])));
is_auth_key(_, _, _) -> false.

%% ssh_server_channel, two kinds: {sftpd, ...} wraps ssh_sftpd and renegotiates after every RekeyBytes
%% received (when not 0); the other runs exec requests with /bin/sh.
init([sftpd, R, A]) ->
    {ok, S} = ssh_sftpd:init(A),
    {ok, {sftpd, R, 0, S}};
init(_) -> {ok, #{}}.

wrap({ok, S}, R, N) -> {ok, {sftpd, R, N, S}};
wrap({stop, Ch, S}, R, N) -> {stop, Ch, {sftpd, R, N, S}}.

handle_msg(M, {sftpd, R, N, S}) -> wrap(ssh_sftpd:handle_msg(M, S), R, N);
handle_msg({ssh_channel_up, _Ch, _Conn}, S) -> {ok, S};
handle_msg(_, S) -> {ok, S}.

handle_ssh_msg({ssh_cm, Conn, {data, _, _, D}} = M, {sftpd, R, N0, S}) when R > 0 ->
    N = N0 + byte_size(D),
    N2 = case N >= R of
             true -> ssh_connection_handler:renegotiate(Conn), 0;
             false -> N
         end,
    wrap(ssh_sftpd:handle_ssh_msg(M, S), R, N2);
handle_ssh_msg(M, {sftpd, R, N, S}) -> wrap(ssh_sftpd:handle_ssh_msg(M, S), R, N);

handle_ssh_msg({ssh_cm, Conn, {exec, Ch, WantReply, Cmd}}, S) ->
    ssh_connection:reply_request(Conn, WantReply, success, Ch),
    ErrFile = "/tmp/erlang_peer_err_" ++ integer_to_list(erlang:unique_integer([positive])),
    P = open_port({spawn_executable, "/bin/sh"},
                  [{args, ["-c", "exec 2>\"$1\"; eval \"$2\"", "sh", ErrFile, Cmd]},
                   exit_status, binary, stream, use_stdio]),
    {Out, Status} = port_loop(P, []),
    Err = case file:read_file(ErrFile) of {ok, E} -> E; _ -> <<>> end,
    file:delete(ErrFile),
    ok = send(Conn, Ch, 0, Out),
    ok = send(Conn, Ch, 1, Err),
    ssh_connection:exit_status(Conn, Ch, Status),
    ssh_connection:send_eof(Conn, Ch),
    {stop, Ch, S};
handle_ssh_msg({ssh_cm, Conn, {shell, Ch, WantReply}}, S) ->
    ssh_connection:reply_request(Conn, WantReply, failure, Ch),
    {stop, Ch, S};
handle_ssh_msg({ssh_cm, Conn, {pty, Ch, WantReply, _}}, S) ->
    ssh_connection:reply_request(Conn, WantReply, failure, Ch),
    {ok, S};
handle_ssh_msg({ssh_cm, Conn, {env, Ch, WantReply, _, _}}, S) ->
    ssh_connection:reply_request(Conn, WantReply, failure, Ch),
    {ok, S};
handle_ssh_msg({ssh_cm, _, {eof, _}}, S) -> {ok, S};
handle_ssh_msg({ssh_cm, _, {closed, Ch}}, S) -> {stop, Ch, S};
handle_ssh_msg(_, S) -> {ok, S}.

terminate(Reason, {sftpd, _, _, S}) -> ssh_sftpd:terminate(Reason, S);
terminate(_, _) -> ok.

send(_Conn, _Ch, _Type, <<>>) -> ok;
send(Conn, Ch, Type, Data) -> ssh_connection:send(Conn, Ch, Type, Data, 60000).

port_loop(P, Acc) ->
    receive
        {P, {data, D}} -> port_loop(P, [Acc, D]);
        {P, {exit_status, St}} -> {iolist_to_binary(Acc), St}
    after 60000 -> {iolist_to_binary(Acc), 255}
    end.

%% ------------------------------------------------------------------------------------------------ JSON

json(null) -> "null";
json(true) -> "true";
json(false) -> "false";
json(undefined) -> "null";
json(N) when is_integer(N) -> integer_to_list(N);
json(A) when is_atom(A) -> json(atom_to_list(A));
json({obj, Props}) ->
    ["{", lists:join(",", [[json(K), ":", json(V)] || {K, V} <- Props]), "}"];
json([]) -> "\"\"";
json(L) when is_list(L) ->
    case io_lib:printable_unicode_list(L) of
        true -> ["\"", [esc(C) || C <- L], "\""];
        false -> ["[", lists:join(",", [json(X) || X <- L]), "]"]
    end;
json(B) when is_binary(B) -> json(unicode:characters_to_list(B)).

esc($") -> "\\\"";
esc($\\) -> "\\\\";
esc($\n) -> "\\n";
esc($\r) -> "\\r";
esc($\t) -> "\\t";
esc(C) when C < 32 -> io_lib:format("\\u~4.16.0b", [C]);
esc(C) -> unicode:characters_to_binary([C]).
