/*-------------------------------------------------------------------------
 *
 * scram_secret.c
 *	  The SCRAM-SHA-256 verifier of a password, as pg_authid.rolpassword
 *	  stores it, computed with one PBKDF2 call into OpenSSL.
 *
 * The server's own pg_be_scram_build_secret() gives the same result, but
 * computes each of the 4,096 iterations with pg_hmac_init(), which under
 * OpenSSL 3 fetches the SHA-256 implementation again for every iteration
 * (a lookup under a read-write lock): about 2.5 ms per verifier here,
 * where PKCS5_PBKDF2_HMAC() needs about 0.8 ms.  The worker sets three
 * passwords per tenant it provisions, so this was a fifth of its CPU time
 * (test/bench/README.md, end to end).
 *
 * The verifier is built as RFC 5802 and 7677 define it and as the server
 * reads it (parse_scram_secret): "SCRAM-SHA-256$<iterations>:<salt>$
 * <StoredKey>:<ServerKey>", base64, with a 16-byte random salt, the
 * password normalized with SASLprep when it is valid UTF-8 (as the server
 * does), and the server's scram_iterations where that setting exists (16
 * and later; 4,096 before).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "common/saslprep.h"
#include "utils/guc.h"

#include "platform.h"

#define SCRAM_SALT_BYTES 16
#define SCRAM_KEY_BYTES 32		/* SHA-256 */
#define SCRAM_ITERATIONS_BEFORE_16 4096

/* base64 of n bytes, with its terminating NUL */
#define BASE64_SIZE(n) (4 * (((n) + 2) / 3) + 1)

/*
 * scram_iterations
 *		The server's iteration count for new SCRAM verifiers: the setting
 *		scram_iterations (16 and later), else PostgreSQL's fixed 4,096.
 */
static int
scram_iterations(void)
{
	const char *value = GetConfigOption("scram_iterations", true, false);
	int			iterations;

	if (value == NULL || !parse_int(value, &iterations, 0, NULL) ||
		iterations < 1)
		return SCRAM_ITERATIONS_BEFORE_16;
	return iterations;
}

/*
 * ScramVerifier
 *		The SCRAM-SHA-256 verifier of password, palloc'd.  The caller wipes
 *		it after use; every intermediate key is wiped here.
 */
char *
ScramVerifier(const char *password)
{
	char	   *prepared = NULL;
	const char *input = password;
	int			iterations = scram_iterations();
	uint8		salt[SCRAM_SALT_BYTES];
	uint8		salted[SCRAM_KEY_BYTES];
	uint8		client_key[SCRAM_KEY_BYTES];
	uint8		stored_key[SCRAM_KEY_BYTES];
	uint8		server_key[SCRAM_KEY_BYTES];
	char		salt64[BASE64_SIZE(SCRAM_SALT_BYTES)];
	char		stored64[BASE64_SIZE(SCRAM_KEY_BYTES)];
	char		server64[BASE64_SIZE(SCRAM_KEY_BYTES)];
	unsigned int len = SCRAM_KEY_BYTES;
	bool		ok;
	char	   *verifier;

	/* as the server does: normalized if valid UTF-8, else as it is */
	if (pg_saslprep(password, &prepared) == SASLPREP_SUCCESS)
		input = prepared;
	if (!pg_strong_random(salt, sizeof(salt)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random salt for a SCRAM verifier")));

	ok = PKCS5_PBKDF2_HMAC(input, (int) strlen(input), salt, sizeof(salt),
						   iterations, EVP_sha256(), sizeof(salted), salted) == 1 &&
		HMAC(EVP_sha256(), salted, sizeof(salted),
			 (const unsigned char *) "Client Key", strlen("Client Key"),
			 client_key, &len) != NULL &&
		SHA256(client_key, sizeof(client_key), stored_key) != NULL &&
		HMAC(EVP_sha256(), salted, sizeof(salted),
			 (const unsigned char *) "Server Key", strlen("Server Key"),
			 server_key, &len) != NULL;

	if (prepared != NULL)
	{
		explicit_bzero(prepared, strlen(prepared));
		pfree(prepared);
	}
	explicit_bzero(salted, sizeof(salted));
	explicit_bzero(client_key, sizeof(client_key));
	if (!ok)
	{
		explicit_bzero(stored_key, sizeof(stored_key));
		explicit_bzero(server_key, sizeof(server_key));
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute a SCRAM verifier")));
	}

	EVP_EncodeBlock((unsigned char *) salt64, salt, sizeof(salt));
	EVP_EncodeBlock((unsigned char *) stored64, stored_key, sizeof(stored_key));
	EVP_EncodeBlock((unsigned char *) server64, server_key, sizeof(server_key));
	verifier = psprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, salt64,
						stored64, server64);

	explicit_bzero(stored_key, sizeof(stored_key));
	explicit_bzero(server_key, sizeof(server_key));
	explicit_bzero(stored64, sizeof(stored64));
	explicit_bzero(server64, sizeof(server64));
	return verifier;
}
