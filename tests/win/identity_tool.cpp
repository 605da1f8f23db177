// certheal_identity_tool: what an administrator (or auto-enrollment) does to put a client
// certificate with its key into a LocalMachine store, for tests/win/identity-wine.sh.
//   certheal_identity_tool install STORE CERT.pem KEY.pem CONTAINER
//       the certificate into LocalMachine\STORE, its RSA key into CryptoAPI key container
//       CONTAINER of the machine key set ("Microsoft Enhanced Cryptographic Provider v1.0"),
//       recorded as Windows' PFX import records it
//   certheal_identity_tool import-pfx STORE FILE.pfx PASSWORD
//       PFXImportCertStore (no flags) and every certificate with a key into LocalMachine\STORE:
//       what the platform's own import makes of it
//   certheal_identity_tool remove STORE CERT.pem
// Exit codes: 0 done, 2 bad usage or a failure (said on stderr).

#include "identity_support.hpp"

#include <cstdio>
#include <exception>
#include <string>

int wmain(int argc, wchar_t** argv) {
    using certheal::win::to_utf8;
    std::vector<std::string> args;
    for (int index = 1; index < argc; ++index) args.push_back(to_utf8(argv[index]));
    try {
        if (args.size() == 5 && args[0] == "install") {
            identity_test::install_capi_certificate(args[1], args[2], args[3], args[4]);
            return 0;
        }
        if (args.size() == 4 && args[0] == "import-pfx") {
            const int added = identity_test::import_pfx(args[1], args[2], args[3]);
            std::printf("%d\n", added);
            return added > 0 ? 0 : 2;
        }
        if (args.size() == 3 && args[0] == "remove") {
            identity_test::remove_from_store(args[1], args[2]);
            return 0;
        }
    } catch (const std::exception& failure) {
        std::fprintf(stderr, "certheal_identity_tool: %s\n", failure.what());
        return 2;
    }
    std::fprintf(stderr,
                 "usage: certheal_identity_tool install STORE CERT.pem KEY.pem CONTAINER | import-pfx STORE FILE.pfx "
                 "PASSWORD | remove STORE CERT.pem\n");
    return 2;
}
